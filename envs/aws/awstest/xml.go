package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"time"
)

const (
	cfnNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
	rdsNS = "http://rds.amazonaws.com/doc/2014-10-31/"
)

// writeResult answers <ActionResponse xmlns=ns>result<ResponseMetadata/>;
// result's XMLName is the <ActionResult> element.
func writeResult(w http.ResponseWriter, action, ns string, result any) {
	body, err := xml.Marshal(result)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, body, action)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	var b []byte
	b, _ = xml.Marshal(struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Type      string   `xml:"Error>Type"`
		Code      string   `xml:"Error>Code"`
		Message   string   `xml:"Error>Message"`
		RequestID string   `xml:"RequestId"`
	}{Type: typ, Code: code, Message: msg, RequestID: "req-err"})
	w.Write(b)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type xParameter struct {
	ParameterKey   string `xml:"ParameterKey"`
	ParameterValue string `xml:"ParameterValue,omitempty"`
}

type xTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type xOutput struct {
	OutputKey   string `xml:"OutputKey"`
	OutputValue string `xml:"OutputValue"`
}

type xStack struct {
	StackID           string       `xml:"StackId"`
	StackName         string       `xml:"StackName"`
	CreationTime      string       `xml:"CreationTime"`
	DeletionTime      string       `xml:"DeletionTime,omitempty"`
	StackStatus       string       `xml:"StackStatus"`
	StackStatusReason string       `xml:"StackStatusReason,omitempty"`
	Parameters        []xParameter `xml:"Parameters>member"`
	Tags              []xTag       `xml:"Tags>member"`
	Outputs           []xOutput    `xml:"Outputs>member"`
	Capabilities      []string     `xml:"Capabilities>member"`
}

type xEvent struct {
	StackID              string `xml:"StackId"`
	EventID              string `xml:"EventId"`
	StackName            string `xml:"StackName"`
	LogicalResourceID    string `xml:"LogicalResourceId"`
	PhysicalResourceID   string `xml:"PhysicalResourceId,omitempty"`
	ResourceType         string `xml:"ResourceType"`
	Timestamp            string `xml:"Timestamp"`
	ResourceStatus       string `xml:"ResourceStatus"`
	ResourceStatusReason string `xml:"ResourceStatusReason,omitempty"`
	ClientRequestToken   string `xml:"ClientRequestToken,omitempty"`
}
