// Package mercure is ssehub's second front door: the Mercure protocol
// (draft-dunglas-mercure, both the deployed draft-07 and the current
// draft-08) over the same hub, shards and brokers as the native API
// (docs/mercure-design.md).
//
// Built so far: the parsing of untrusted requests (the subscription query,
// ParseSubscription; the publication form, ParseUpdate; the draft-07
// "mercure" claim, ParseClaim07), and the Door, which publishes and opens
// streams with draft-07 tokens and is served by cmd/ssehub with --mercure.
// Draft-08 access tokens and active subscriptions are planned
// (docs/mercure.md says what is done).
package mercure
