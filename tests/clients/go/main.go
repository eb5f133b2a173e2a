// Command client calls a credlist daemon the way an approval system would
// and prints one line per answer (the format the project's test reads):
//
//	check <code> <status|error> <must_apply ids, comma-separated or ->
//	feedback <http status>
//	batch <request_id> <flags, comma-separated>
//	batch-error <request_id> <status> <message>
//
// (`batch2` and `batch2-error` for answers of batch protocol version 2.)
//
// Usage:
//
//	go build -o credlist-client . && ./credlist-client \
//	    -check-socket /run/credlist/check.sock -batch-socket /run/credlist/batch.sock \
//	    -matter gov_procurement -as-of 2026-11-20 91350100MA2Y3K8L5G
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	checkSocket := flag.String("check-socket", "", "path of the check socket (HTTP)")
	batchSocket := flag.String("batch-socket", "", "path of the batch socket")
	matter := flag.String("matter", "", "matter id")
	asOf := flag.String("as-of", "", "YYYY-MM-DD (empty: today)")
	flag.Parse()
	codes := flag.Args()
	if err := run(*checkSocket, *batchSocket, *matter, *asOf, codes); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(checkSocket, batchSocket, matter, asOf string, codes []string) error {
	if checkSocket != "" {
		c := NewCheckClient(checkSocket)
		req := CheckRequest{Matter: matter, AsOf: asOf}
		for _, code := range codes {
			req.Subjects = append(req.Subjects, Subject{Code: code})
		}
		resp, err := c.Check(req)
		if err != nil {
			return err
		}
		var fb *Feedback
		for _, it := range resp.Results {
			state := it.Status
			if it.Error != "" {
				state = "error"
			}
			ids := []string{}
			for _, m := range it.MustApply {
				ids = append(ids, m.ID)
				if fb == nil {
					fb = &Feedback{Receipt: resp.Receipt, Code: it.Code, Measure: m.ID, Applied: true, Note: "applied by the Go client"}
				}
			}
			list := "-"
			if len(ids) > 0 {
				list = strings.Join(ids, ",")
			}
			fmt.Printf("check %s %s %s\n", it.Code, state, list)
		}
		if fb != nil {
			status, err := c.Feedback(*fb)
			if err != nil {
				return err
			}
			fmt.Printf("feedback %d\n", status)
		}
	}
	if batchSocket != "" {
		b, err := DialBatch(batchSocket)
		if err != nil {
			return err
		}
		defer b.Close()
		day, err := Days(asOf)
		if err != nil {
			return err
		}
		// Five frames in flight together; answers come in order.
		frames := []struct {
			version byte
			matter  string
		}{{V1, matter}, {V1, ""}, {V1, "no_such_matter"}, {V2, matter}, {V2, "no_such_matter"}}
		for i, f := range frames {
			frame, err := EncodeRequest(f.version, uint64(i+1), day, f.matter, codes)
			if err != nil {
				return err
			}
			if err := b.Send(frame); err != nil {
				return err
			}
		}
		for range frames {
			a, err := b.Receive()
			if err != nil {
				return err
			}
			label := "batch"
			if a.Version != V1 {
				label = fmt.Sprintf("batch%d", a.Version)
			}
			if a.Status != 0 {
				fmt.Printf("%s-error %d %d %s\n", label, a.RequestID, a.Status, a.Message)
				continue
			}
			flags := make([]string, len(a.Flags))
			for i, f := range a.Flags {
				flags[i] = fmt.Sprint(f)
			}
			fmt.Printf("%s %d %s\n", label, a.RequestID, strings.Join(flags, ","))
		}
	}
	return nil
}
