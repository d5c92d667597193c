// Package catalog holds the sample templates that ship with Mayfly and load
// into the catalog on first start. They run on the local provider, with the
// sample shop (package catalog/shop, run as `mayfly sample-app`) as their
// application:
//
//   - demo-shop (demo): a shop seeded with demo data for one customer;
//   - shop-replica (replica): the latest shop-production snapshot, restored
//     for a developer;
//   - shop-dr-drill (dr): the same restore, verified against the snapshot's
//     manifest.
//
// The replica and DR templates need a shop-production snapshot: call
// shop.EnsureProductionSnapshot on start-up before they are launched.
package catalog

import "embed"

// FS holds every template, one *.yaml file each, at its root; the aws/
// folder holds the samples for the aws provider, kube/ those for the
// kubernetes provider and tofu/ those for the tofu provider, each loaded
// only when its provider is on.
//
//go:embed *.yaml aws/*.yaml kube/*.yaml tofu/*.yaml
var FS embed.FS
