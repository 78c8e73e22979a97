// Drives the Segment SDK for Node, unmodified, against touchlined (tests/integration/
// test_httpin.c): one identify linking a web user to a phone number, then COUNT track calls
// that the SDK batches and sends on its own. Prints one JSON line:
// {"identified":true,"sent":COUNT,"failed":N,"http_requests":M}.
// Usage: node segment_load.js HOST WRITE_KEY USER_ID PHONE COUNT
'use strict';
const { Analytics } = require('@segment/analytics-node');

async function main() {
    const [host, writeKey, userId, phone, countText] = process.argv.slice(2);
    const count = Number(countText);
    const analytics = new Analytics({ writeKey, host, flushInterval: 200, maxRetries: 5 });
    let failed = 0;
    let requests = 0;
    analytics.on('error', (err) => {
        failed++;
        process.stderr.write(`segment error: ${err && err.reason ? err.reason : err}\n`);
    });
    analytics.on('http_request', () => {
        requests++;
    });
    analytics.identify({
        userId,
        messageId: `identify-${userId}`,
        traits: { phone, name: 'سارا کریمی', plan: 'طلایی' },
    });
    for (let i = 0; i < count; i++) {
        analytics.track({
            userId,
            messageId: `load-${userId}-${i}`,
            event: i % 2 ? 'Product Viewed' : 'مشاهده محصول',
            properties: { i, sku: `SKU-${i % 37}`, title: 'کتاب شعر حافظ' },
        });
    }
    await analytics.closeAndFlush({ timeout: 60000 });
    process.stdout.write(
        JSON.stringify({ identified: true, sent: count, failed, http_requests: requests }) + '\n');
}

main().catch((err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
