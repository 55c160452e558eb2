package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Client calls the HTTP API of a worker.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// NewClient returns a client for baseURL.
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into dst.
func (r Response) JSON(t testing.TB, dst any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, dst), "body: %s", r.Body)
}

// Do sends a request with a JSON body (nil for none) and headers as key, value pairs.
func (c *Client) Do(method, path string, body any, headers ...string) (Response, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	case string:
		reader = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, reader)
	if err != nil {
		return Response{}, err
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read %s %s: %w", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Must is Do that fails the test on a transport error.
func (c *Client) Must(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	r, err := c.Do(method, path, body, headers...)
	require.NoError(t, err)
	return r
}

// OrderView is GET /orders/{id}.
type OrderView struct {
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StockView is GET /inventory/{sku}.
type StockView struct {
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
}

// NotificationsView is GET /notifications.
type NotificationsView struct {
	CustomerID    string `json:"customer_id"`
	Notifications []struct {
		OrderID string    `json:"order_id"`
		Status  string    `json:"status"`
		Message string    `json:"message"`
		SentAt  time.Time `json:"sent_at"`
	} `json:"notifications"`
}
