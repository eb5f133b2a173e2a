// Package main is a Go client of credlist, standard library only: the HTTP
// check API over the check Unix socket, and the batch protocol (versions 1
// and 2) over the batch Unix socket.
//
// Batch version 2 (SPEC §8) has the same request layout with version byte
// 2 and is answered in version 2 with n × u16 little-endian flags: bits 0–7
// as version 1, and 256 RELATED_BLACK, 512 RELATED_WATCH, 1024 RELATED_RED.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// CheckClient calls the HTTP check API over a Unix socket. The daemon knows
// the caller by the socket's peer uid/gid (a `[[client]] uid` or `gid`).
type CheckClient struct {
	http *http.Client
}

// NewCheckClient dials socket for every request; the host in URLs is unused.
func NewCheckClient(socket string) *CheckClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		ForceAttemptHTTP2: false,
	}
	return &CheckClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// APIError is an error answer: {"error": {"kind", "message"}}.
type APIError struct {
	Status  int
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Kind, e.Message)
}

// post sends body as JSON and decodes a 2xx answer into out (when not nil).
func (c *CheckClient) post(path string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Post("http://credlist"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil {
			return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
		}
		e.Error.Status = resp.StatusCode
		return resp.StatusCode, &e.Error
	}
	if out != nil && len(data) > 0 {
		return resp.StatusCode, json.Unmarshal(data, out)
	}
	return resp.StatusCode, nil
}

// Subject of a check request.
type Subject struct {
	Code string `json:"code"`
	Role string `json:"role,omitempty"`
}

// CheckRequest is the body of POST /v1/check.
type CheckRequest struct {
	Matter    string    `json:"matter"`
	AsOf      string    `json:"as_of,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Subjects  []Subject `json:"subjects"`
}

// Measure is a measure item of a result.
type Measure struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Basis   string   `json:"basis"`
	Entries []string `json:"entries"`
}

// Item is one subject's result (fields of the OpenAPI schema Item).
type Item struct {
	Code      string    `json:"code"`
	Valid     bool      `json:"valid"`
	Status    string    `json:"status"`
	Error     string    `json:"error"`
	MustApply []Measure `json:"must_apply"`
	MayApply  []Measure `json:"may_apply"`
	Rewards   []Measure `json:"rewards"`
}

// CheckResponse is the answer of POST /v1/check.
type CheckResponse struct {
	Receipt string `json:"receipt"`
	AsOf    string `json:"as_of"`
	Results []Item `json:"results"`
}

// Check calls POST /v1/check.
func (c *CheckClient) Check(req CheckRequest) (*CheckResponse, error) {
	var out CheckResponse
	if _, err := c.post("/v1/check", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Feedback is the body of POST /v1/feedback.
type Feedback struct {
	Receipt string `json:"receipt"`
	Code    string `json:"code"`
	Measure string `json:"measure"`
	Applied bool   `json:"applied"`
	Note    string `json:"note,omitempty"`
}

// Feedback calls POST /v1/feedback; the status is 204 when recorded.
func (c *CheckClient) Feedback(f Feedback) (int, error) {
	return c.post("/v1/feedback", f, nil)
}

// Batch protocol: versions and their flag widths.
const (
	V1      byte = 1
	V2      byte = 2
	opCheck byte = 1
	codeLen      = 18
)

func flagWidth(version byte) (int, error) {
	switch version {
	case V1:
		return 1, nil
	case V2:
		return 2, nil
	}
	return 0, fmt.Errorf("unknown batch version %d", version)
}

// Days is the protocol's as_of: days since 1970-01-01 of YYYY-MM-DD, 0
// (today) for "".
func Days(asOf string) (uint32, error) {
	if asOf == "" {
		return 0, nil
	}
	t, err := time.Parse("2006-01-02", asOf)
	if err != nil {
		return 0, err
	}
	return uint32(t.Unix() / 86400), nil
}

// EncodeRequest builds a frame: u32 len | u8 version | u8 op | u64
// request_id | u32 as_of | u16 matter_len | matter | u32 n | n × 18 code
// bytes (already normalised).
func EncodeRequest(version byte, requestID uint64, asOf uint32, matter string, codes []string) ([]byte, error) {
	n := 20 + len(matter) + codeLen*len(codes)
	b := make([]byte, 0, 4+n)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, version, opCheck)
	b = binary.LittleEndian.AppendUint64(b, requestID)
	b = binary.LittleEndian.AppendUint32(b, asOf)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(matter)))
	b = append(b, matter...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(codes)))
	for _, c := range codes {
		if len(c) != codeLen {
			return nil, fmt.Errorf("a batch code has 18 characters: %q", c)
		}
		b = append(b, c...)
	}
	return b, nil
}

// BatchAnswer is one answer frame: flags (Status 0) or an error.
type BatchAnswer struct {
	RequestID uint64
	Version   byte
	Status    byte
	Flags     []uint16
	Message   string
}

// BatchConn is a connection to the batch socket; frames may be sent
// together and are answered in order.
type BatchConn struct {
	conn net.Conn
}

// DialBatch connects to the batch socket.
func DialBatch(socket string) (*BatchConn, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	return &BatchConn{conn: c}, nil
}

// Send writes one frame.
func (b *BatchConn) Send(frame []byte) error {
	_, err := b.conn.Write(frame)
	return err
}

// Receive reads one answer: u32 len | u8 version | u8 status | u64
// request_id | u32 n | n flags (flag width each) or n message bytes.
func (b *BatchConn) Receive() (*BatchAnswer, error) {
	var head [4]byte
	if _, err := io.ReadFull(b.conn, head[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.LittleEndian.Uint32(head[:]))
	if _, err := io.ReadFull(b.conn, f); err != nil {
		return nil, err
	}
	if len(f) < 14 {
		return nil, errors.New("short answer frame")
	}
	a := &BatchAnswer{Version: f[0], Status: f[1], RequestID: binary.LittleEndian.Uint64(f[2:10])}
	n := int(binary.LittleEndian.Uint32(f[10:14]))
	rest := f[14:]
	if a.Status != 0 {
		a.Message = string(rest)
		return a, nil
	}
	w, err := flagWidth(f[0])
	if err != nil {
		return nil, err
	}
	if len(rest) != n*w {
		return nil, errors.New("answer length does not match its count")
	}
	a.Flags = make([]uint16, n)
	for i := range a.Flags {
		if w == 1 {
			a.Flags[i] = uint16(rest[i])
		} else {
			a.Flags[i] = binary.LittleEndian.Uint16(rest[2*i:])
		}
	}
	return a, nil
}

// Close closes the connection.
func (b *BatchConn) Close() error { return b.conn.Close() }
