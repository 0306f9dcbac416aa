// Package mercure is ssehub's second front door: the Mercure protocol
// (draft-dunglas-mercure, both the deployed draft-07 and the current
// draft-08) over the same hub, shards and brokers as the native API
// (docs/mercure-design.md).
//
// Built so far: the parsing of untrusted requests (the subscription query,
// ParseSubscription; the publication form, ParseUpdate; the draft-07
// "mercure" claim, ParseClaim07), and the Door, which publishes and opens
// streams with draft-07 tokens and is served by cmd/ssehub with --mercure.
// With Config.Subscriptions (--mercure-subscriptions) the door tracks
// active subscriptions: a registry goroutine per door (registry.go) records
// them in the fleet's store and publishes their events, and the
// subscriptions API (subsapi.go, ParseAPIPath) reads them. Draft-08 access
// tokens are planned (docs/mercure.md says what is done).
package mercure
