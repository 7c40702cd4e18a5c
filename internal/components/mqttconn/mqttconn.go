// Package mqttconn is what cove's MQTT 3 components share of connecting to
// a broker (github.com/eclipse/paho.mqtt.golang): a client with manual
// acknowledgements and automatic reconnection, and waiting for a token
// within a bound.
//
// It imports no cove package.
package mqttconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Wait bounds connecting, subscribing and publishing when the caller's
// context has no deadline.
const Wait = 10 * time.Second

// Options describe one client.
type Options struct {
	// URL is the broker's (tcp://host:1883, ssl://host:8883), credentials
	// in its user info.
	URL      string
	ClientID string
	// Clean starts a clean session; otherwise the broker keeps it.
	Clean bool
	TLS   *tls.Config
	// OnConnect runs on every (re)connection; OnLost when it drops.
	OnConnect func(mqtt.Client)
	OnLost    func(mqtt.Client, error)
}

// Broker is url without its credentials, for messages; an error when it
// is no broker address.
func Broker(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q: not a broker address such as tcp://host:1883", raw)
	}
	u.User = nil
	return u.String(), nil
}

// Connect opens a client and waits, within ctx, until it is connected.
func Connect(ctx context.Context, o Options) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(o.URL).SetClientID(o.ClientID).SetCleanSession(o.Clean).
		SetOrderMatters(false).SetAutoAckDisabled(true).SetAutoReconnect(true).
		SetConnectTimeout(Wait).SetMaxReconnectInterval(5 * time.Second).SetResumeSubs(true)
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	if o.OnConnect != nil {
		opts.SetOnConnectHandler(o.OnConnect)
	}
	if o.OnLost != nil {
		opts.SetConnectionLostHandler(o.OnLost)
	}
	c := mqtt.NewClient(opts)
	if err := Await(ctx, c.Connect()); err != nil {
		broker, _ := Broker(o.URL)
		return nil, fmt.Errorf("cannot reach the MQTT broker at %s: %w", broker, err)
	}
	return c, nil
}

// Await waits for t within ctx, and within Wait when ctx has no deadline.
func Await(ctx context.Context, t mqtt.Token) error {
	timeout := Wait
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return errors.New("no answer in time")
	}
}

// TLSConfig is the client's TLS configuration from Dapr's caCert,
// clientCert and clientKey metadata (PEM); nil when none is given.
func TLSConfig(caCert, clientCert, clientKey string) (*tls.Config, error) {
	if caCert == "" && clientCert == "" && clientKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caCert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caCert)) {
			return nil, errors.New("metadata caCert: no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if (clientCert == "") != (clientKey == "") {
		return nil, errors.New("metadata clientCert and clientKey must be given together")
	}
	if clientCert != "" {
		cert, err := tls.X509KeyPair([]byte(clientCert), []byte(clientKey))
		if err != nil {
			return nil, fmt.Errorf("metadata clientCert/clientKey: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
