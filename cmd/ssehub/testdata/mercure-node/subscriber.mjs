// A Mercure subscriber as Mercure's docs show it ("Subscribing"), on
// Node.js with the eventsource package. Usage:
//   node subscriber.mjs HUB_URL TOPIC_SELECTOR COUNT
// It prints "open" once the stream is open, then one JSON line per update
// ({"id": ..., "data": ...}), and exits after COUNT updates.
import { EventSource } from 'eventsource';

const [hub, selector, count] = process.argv.slice(2);
const url = new URL(hub);
url.searchParams.append('topic', selector);
const eventSource = new EventSource(url);
let seen = 0;
eventSource.onopen = () => console.log('open');
eventSource.onmessage = (e) => {
  console.log(JSON.stringify({ id: e.lastEventId, data: e.data }));
  if (++seen === Number(count)) {
    eventSource.close();
  }
};
eventSource.onerror = (e) => console.error('error', e.message ?? '');
