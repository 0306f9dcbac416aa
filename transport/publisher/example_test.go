package publisher_test

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"os"
	"time"

	"github.com/ssehub/ssehub/transport/publisher"
)

// A backend publishes an event, and then a batch, to the hub at
// SSEHUB_URL with an API key. Errors worth retrying are retried, up to
// five attempts within ten seconds; an *Error says what the hub answered.
func ExampleClient_Publish() {
	c, err := publisher.New(publisher.Config{
		URL:   os.Getenv("SSEHUB_URL"),           // "https://hub.example.com"
		Token: os.Getenv("SSEHUB_PUBLISH_TOKEN"), // an --api-keys key, or a JWT that may publish
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	data, _ := json.Marshal(map[string]int{"unread": 3})
	id, err := c.Publish(ctx, publisher.Event{Topics: []string{"user/42"}, Event: "inbox", Data: string(data)})
	var refused *publisher.Error
	switch {
	case errors.As(err, &refused) && refused.Code == publisher.CodeBrokerUnavailable:
		// The retries ran out while the hub's Redis was down: the event may
		// or may not have been published.
		log.Printf("unknown outcome: %v", err)
	case err != nil:
		log.Fatal(err)
	default:
		log.Printf("published as %s", id)
	}

	ids, err := c.PublishBatch(ctx, []publisher.Event{
		{Topics: []string{"feed"}, Data: "1"},
		{Topics: []string{"feed"}, Data: "2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("published as %v", ids)
}
