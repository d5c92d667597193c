package shop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DemoCustomers is how many customers Seed creates: the featured customer the
// demo is for, and a few others so the shop does not look empty.
const DemoCustomers = 8

// Sizes of the dataset MakeProduction creates.
const (
	ProductionProducts  = 200
	ProductionCustomers = 1000
	ProductionOrders    = 5000
)

// SeedOptions describe a demo dataset.
type SeedOptions struct {
	// Customer is who the demo is for: the featured customer, and the name
	// on a couple of products.
	Customer string
	Products int
	Orders   int
	// AsOf is the end of the order history (orders fall in the 60 days
	// before it). The data is a pure function of the options.
	AsOf time.Time
}

// Seed creates the schema if needed and replaces all rows with a demo dataset
// personalised for opts.Customer, in one transaction. Running it again with
// the same options gives the same rows, so a setup step may be retried.
func Seed(ctx context.Context, db *sql.DB, opts SeedOptions) error {
	customer := strings.TrimSpace(opts.Customer)
	switch {
	case customer == "":
		return errors.New("shop: seed: customer name is empty")
	case utf8.RuneCountInString(customer) > 100:
		return errors.New("shop: seed: customer name is longer than 100 characters")
	case opts.Products < 1 || opts.Products > 10000:
		return fmt.Errorf("shop: seed: products must be between 1 and 10000, not %d", opts.Products)
	case opts.Orders < 0 || opts.Orders > 1000000:
		return fmt.Errorf("shop: seed: orders must be between 0 and 1000000, not %d", opts.Orders)
	}
	asOf := opts.AsOf.UTC().Truncate(time.Second)

	// Seeded from the customer's name, so each customer gets their own,
	// stable, data.
	h := fnv.New64a()
	h.Write([]byte(customer))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))

	products := make([]product, 0, opts.Products)
	products = append(products, product{
		Name: customer + " Welcome Pack", Category: "Featured",
		PriceCents: 4900, Stock: 250,
	})
	if opts.Products > 1 {
		n := nouns[rng.IntN(len(nouns))]
		products = append(products, product{
			Name: customer + " Edition " + n.Name, Category: "Featured",
			PriceCents: n.priceCents(rng) + 1000, Stock: 120,
		})
	}
	products = append(products, catalogProducts(rng, opts.Products-len(products))...)

	customers := []customerRow{{
		Name: customer, Email: "purchasing@" + slug(customer) + ".example", City: cities[rng.IntN(len(cities))],
		Featured: true, CreatedAt: asOf.AddDate(0, 0, -90),
	}}
	for _, i := range rng.Perm(len(companies)) {
		if len(customers) == DemoCustomers {
			break
		}
		name := companies[i]
		if strings.EqualFold(name, customer) {
			continue
		}
		customers = append(customers, customerRow{
			Name: name, Email: "orders@" + slug(name) + ".example", City: cities[rng.IntN(len(cities))],
			CreatedAt: asOf.AddDate(0, 0, -90-rng.IntN(600)),
		})
	}

	// Most orders belong to the featured customer: it is their demo.
	orders := makeOrders(rng, opts.Orders, asOf, 60*24*time.Hour, products, func() int {
		if rng.IntN(10) < 6 {
			return 1
		}
		return 2 + rng.IntN(len(customers)-1)
	})

	if err := replaceAll(ctx, db, products, customers, orders); err != nil {
		return fmt.Errorf("shop: seed for %q: %w", customer, err)
	}
	return nil
}

// ProductionOptions describe the "production" dataset.
type ProductionOptions struct {
	// Seed selects the dataset; the same seed gives the same rows.
	Seed uint64
	// AsOf is the end of the order history (a year of orders before it).
	AsOf time.Time
}

// MakeProduction creates the schema if needed and replaces all rows with a
// bigger, production-like dataset (ProductionProducts, ProductionCustomers,
// ProductionOrders), in one transaction.
func MakeProduction(ctx context.Context, db *sql.DB, opts ProductionOptions) error {
	asOf := opts.AsOf.UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(opts.Seed, 0x70726f64))

	products := catalogProducts(rng, ProductionProducts)

	customers := make([]customerRow, 0, ProductionCustomers)
	for i, k := range rng.Perm(len(namePrefixes) * len(nameSuffixes))[:ProductionCustomers] {
		name := namePrefixes[k%len(namePrefixes)] + " " + nameSuffixes[k/len(namePrefixes)]
		customers = append(customers, customerRow{
			Name:      name,
			Email:     fmt.Sprintf("buyer%d@%s.example", i+1, slug(name)),
			City:      cities[rng.IntN(len(cities))],
			CreatedAt: asOf.AddDate(0, 0, -400-rng.IntN(1500)),
		})
	}

	orders := makeOrders(rng, ProductionOrders, asOf, 365*24*time.Hour, products, func() int {
		return 1 + rng.IntN(len(customers))
	})

	if err := replaceAll(ctx, db, products, customers, orders); err != nil {
		return fmt.Errorf("shop: make production dataset: %w", err)
	}
	return nil
}

type product struct {
	Name       string
	Category   string
	PriceCents int64
	Stock      int64
}

type customerRow struct {
	Name      string
	Email     string
	City      string
	Featured  bool
	CreatedAt time.Time
}

type orderRow struct {
	CustomerID int
	ProductID  int
	Quantity   int64
	TotalCents int64
	Status     string
	OrderedAt  time.Time
}

// catalogProducts picks n distinct "<adjective> <noun>" products.
func catalogProducts(rng *rand.Rand, n int) []product {
	combos := len(adjectives) * len(nouns)
	perm := rng.Perm(combos)
	out := make([]product, 0, n)
	for i := range n {
		k := perm[i%combos]
		noun := nouns[k/len(adjectives)]
		name := adjectives[k%len(adjectives)] + " " + noun.Name
		if i >= combos {
			// Only for unusually large --products: keep names distinct.
			name += fmt.Sprintf(" Mk %d", i/combos+1)
		}
		out = append(out, product{
			Name: name, Category: noun.Category,
			PriceCents: noun.priceCents(rng), Stock: int64(rng.IntN(400)),
		})
	}
	return out
}

// makeOrders creates n orders in the span before asOf, oldest first so that
// ids follow time. customer returns a 1-based customer id.
func makeOrders(rng *rand.Rand, n int, asOf time.Time, span time.Duration, products []product, customer func() int) []orderRow {
	orders := make([]orderRow, 0, n)
	for range n {
		p := 1 + rng.IntN(len(products))
		qty := int64(1 + rng.IntN(3))
		if rng.IntN(8) == 0 {
			qty += int64(5 + rng.IntN(20)) // the occasional bulk order
		}
		at := asOf.Add(-time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
		orders = append(orders, orderRow{
			CustomerID: customer(),
			ProductID:  p,
			Quantity:   qty,
			TotalCents: qty * products[p-1].PriceCents,
			Status:     orderStatus(rng, asOf.Sub(at)),
			OrderedAt:  at,
		})
	}
	slices.SortStableFunc(orders, func(a, b orderRow) int { return a.OrderedAt.Compare(b.OrderedAt) })
	return orders
}

func orderStatus(rng *rand.Rand, age time.Duration) string {
	switch {
	case rng.IntN(40) == 0:
		return "refunded"
	case age < 2*24*time.Hour:
		return "paid"
	case age < 7*24*time.Hour:
		return "shipped"
	default:
		return "delivered"
	}
}

// replaceAll writes the schema and the rows in one transaction, replacing
// whatever the tables held: a crash midway leaves the previous data intact.
func replaceAll(ctx context.Context, db *sql.DB, products []product, customers []customerRow, orders []orderRow) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	// Children first, for the foreign keys.
	for _, table := range []string{"orders", "customers", "products"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return fmt.Errorf("clear %s: %w", table, err)
		}
	}

	insert := func(table, query string, n int, args func(i int) []any) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
				return fmt.Errorf("insert %s row %d: %w", table, i+1, err)
			}
		}
		return nil
	}
	if err := insert("products", `INSERT INTO products (id, sku, name, category, price_cents, stock) VALUES (?, ?, ?, ?, ?, ?)`,
		len(products), func(i int) []any {
			p := products[i]
			return []any{i + 1, fmt.Sprintf("SKU-%05d", i+1), p.Name, p.Category, p.PriceCents, p.Stock}
		}); err != nil {
		return err
	}
	if err := insert("customers", `INSERT INTO customers (id, name, email, city, featured, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		len(customers), func(i int) []any {
			c := customers[i]
			featured := 0
			if c.Featured {
				featured = 1
			}
			return []any{i + 1, c.Name, c.Email, c.City, featured, c.CreatedAt.Format(timeLayout)}
		}); err != nil {
		return err
	}
	if err := insert("orders", `INSERT INTO orders (id, customer_id, product_id, quantity, total_cents, status, ordered_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		len(orders), func(i int) []any {
			o := orders[i]
			return []any{i + 1, o.CustomerID, o.ProductID, o.Quantity, o.TotalCents, o.Status, o.OrderedAt.Format(timeLayout)}
		}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// slug turns a name into something usable in an e-mail domain.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	if out == "" {
		return "customer"
	}
	return out
}

type noun struct {
	Name     string
	Category string
	// Price range in cents.
	Min, Max int64
}

// priceCents picks a price in the noun's range, ending in 99 or 49 like a
// shop's prices do.
func (n noun) priceCents(rng *rand.Rand) int64 {
	dollars := (n.Min + rng.Int64N(n.Max-n.Min+1)) / 100
	if rng.IntN(3) == 0 {
		return dollars*100 + 49
	}
	return dollars*100 + 99
}

var adjectives = []string{
	"Classic", "Everyday", "Compact", "Deluxe", "Organic", "Rugged", "Smart",
	"Vintage", "Ultralight", "Eco", "Studio", "Travel", "Pro", "Nordic",
	"Urban", "Alpine", "Coastal", "Midnight", "Solar", "Heritage",
}

var nouns = []noun{
	{"Espresso Beans", "Coffee", 900, 2400},
	{"Pour-Over Kettle", "Coffee", 2900, 7900},
	{"Coffee Grinder", "Coffee", 3900, 14900},
	{"Travel Mug", "Coffee", 1200, 3400},
	{"Chef's Knife", "Kitchen", 3500, 16000},
	{"Cutting Board", "Kitchen", 1800, 6500},
	{"Cast-Iron Pan", "Kitchen", 2900, 9900},
	{"Spice Rack", "Kitchen", 1500, 4900},
	{"Notebook", "Office", 500, 2500},
	{"Desk Lamp", "Office", 2500, 11900},
	{"Desk Mat", "Office", 1500, 5500},
	{"Fountain Pen", "Office", 1900, 18900},
	{"Backpack", "Outdoor", 4900, 21900},
	{"Water Bottle", "Outdoor", 1200, 4500},
	{"Camping Lantern", "Outdoor", 1900, 6900},
	{"Rain Jacket", "Outdoor", 7900, 29900},
	{"Throw Blanket", "Home", 2900, 11900},
	{"Scented Candle", "Home", 900, 3900},
	{"Plant Pot", "Home", 900, 4900},
	{"Wall Clock", "Home", 2500, 12900},
}

var companies = []string{
	"Northwind Traders", "Globex", "Initech", "Umbrella Supplies",
	"Stark Logistics", "Wayne Outfitters", "Hooli", "Vandelay Industries",
	"Tyrell Systems", "Wonka Confections", "Pied Piper", "Acme Corp",
	"Soylent Foods", "Cyberdyne Retail", "Oceanic Freight", "Massive Dynamic",
}

// 40 x 25 = 1,000 distinct production customer names.
var namePrefixes = []string{
	"Blue", "Silver", "Red", "North", "South", "East", "West", "Green",
	"Golden", "Bright", "Swift", "Iron", "Cedar", "Maple", "Harbor", "River",
	"Summit", "Pine", "Stone", "Oak", "Copper", "Granite", "Meadow", "Falcon",
	"Lakeside", "Sunrise", "Crescent", "Evergreen", "Redwood", "Atlas",
	"Beacon", "Clearwater", "Driftwood", "Foxglove", "Highland", "Juniper",
	"Kestrel", "Lighthouse", "Orchard", "Willow",
}

var nameSuffixes = []string{
	"Trading", "Labs", "Works", "Foods", "Supply", "Studios", "Partners",
	"Outfitters", "Logistics", "Goods", "Collective", "Market", "Systems",
	"Brewing", "Design", "Holdings", "Ventures", "Bakery", "Books", "Cafe",
	"Clinic", "Farms", "Hotels", "Media", "Tools",
}

var cities = []string{
	"Amsterdam", "Austin", "Berlin", "Boston", "Copenhagen", "Dublin",
	"Lisbon", "London", "Lyon", "Madrid", "Montreal", "Munich", "Oslo",
	"Paris", "Portland", "Seattle", "Singapore", "Stockholm", "Sydney",
	"Toronto", "Vienna", "Zurich",
}
