package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (s *Server) getCallerIdentity(w http.ResponseWriter, r *http.Request) {
	account := s.scopeOf(r).account
	writeResult(w, "GetCallerIdentity", stsNS, struct {
		XMLName xml.Name `xml:"GetCallerIdentityResult"`
		UserID  string   `xml:"UserId"`
		Account string   `xml:"Account"`
		Arn     string   `xml:"Arn"`
	}{UserID: "AIDAFAKE", Account: account, Arn: "arn:aws:iam::" + account + ":user/mayfly"})
}

func (s *Server) assumeRole(w http.ResponseWriter, r *http.Request) {
	role := r.Form.Get("RoleArn")
	s.mu.Lock()
	s.roles = append(s.roles, role)
	denied := s.denied[role]
	// The credentials act in the role's account (arn:aws:iam::<account>:role/...).
	key := fmt.Sprintf("ASIAFAKE%08d", len(s.roles))
	if parts := strings.Split(role, ":"); len(parts) == 6 {
		s.keys[key] = parts[4]
	}
	s.mu.Unlock()
	if denied {
		writeError(w, http.StatusForbidden, "Sender", "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+role)
		return
	}
	writeResult(w, "AssumeRole", stsNS, struct {
		XMLName         xml.Name `xml:"AssumeRoleResult"`
		AccessKeyID     string   `xml:"Credentials>AccessKeyId"`
		SecretAccessKey string   `xml:"Credentials>SecretAccessKey"`
		SessionToken    string   `xml:"Credentials>SessionToken"`
		Expiration      string   `xml:"Credentials>Expiration"`
		Arn             string   `xml:"AssumedRoleUser>Arn"`
		AssumedRoleID   string   `xml:"AssumedRoleUser>AssumedRoleId"`
	}{AccessKeyID: key, SecretAccessKey: "fake", SessionToken: "fake-session",
		Expiration: ts(time.Now().Add(time.Hour)), Arn: role + "/" + r.Form.Get("RoleSessionName"), AssumedRoleID: "AROAFAKE:x"})
}

type xDBSnapshot struct {
	DBSnapshotIdentifier string `xml:"DBSnapshotIdentifier"`
	DBInstanceIdentifier string `xml:"DBInstanceIdentifier"`
	SnapshotCreateTime   string `xml:"SnapshotCreateTime"`
	Status               string `xml:"Status"`
}

type xDBClusterSnapshot struct {
	DBClusterSnapshotIdentifier string `xml:"DBClusterSnapshotIdentifier"`
	DBClusterIdentifier         string `xml:"DBClusterIdentifier"`
	SnapshotCreateTime          string `xml:"SnapshotCreateTime"`
	Status                      string `xml:"Status"`
}

func (s *Server) describeDBSnapshots(w http.ResponseWriter, r *http.Request) {
	instance := r.Form.Get("DBInstanceIdentifier")
	s.mu.Lock()
	var list []xDBSnapshot
	for _, sn := range s.snapshots {
		if sn.Cluster == "" && (instance == "" || sn.Instance == instance) {
			list = append(list, xDBSnapshot{sn.ID, sn.Instance, ts(sn.TakenAt), sn.Status})
		}
	}
	s.mu.Unlock()
	page, next := paginate(list, r.Form.Get("Marker"), s.PageSize)
	writeResult(w, "DescribeDBSnapshots", rdsNS, struct {
		XMLName   xml.Name      `xml:"DescribeDBSnapshotsResult"`
		Snapshots []xDBSnapshot `xml:"DBSnapshots>DBSnapshot"`
		Marker    string        `xml:"Marker,omitempty"`
	}{Snapshots: page, Marker: next})
}

func (s *Server) describeDBClusterSnapshots(w http.ResponseWriter, r *http.Request) {
	cluster := r.Form.Get("DBClusterIdentifier")
	s.mu.Lock()
	var list []xDBClusterSnapshot
	for _, sn := range s.snapshots {
		if sn.Cluster != "" && (cluster == "" || sn.Cluster == cluster) {
			list = append(list, xDBClusterSnapshot{sn.ID, sn.Cluster, ts(sn.TakenAt), sn.Status})
		}
	}
	s.mu.Unlock()
	page, next := paginate(list, r.Form.Get("Marker"), s.PageSize)
	writeResult(w, "DescribeDBClusterSnapshots", rdsNS, struct {
		XMLName   xml.Name             `xml:"DescribeDBClusterSnapshotsResult"`
		Snapshots []xDBClusterSnapshot `xml:"DBClusterSnapshots>DBClusterSnapshot"`
		Marker    string               `xml:"Marker,omitempty"`
	}{Snapshots: page, Marker: next})
}
