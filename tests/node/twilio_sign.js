// Twilio's own signature of a webhook request, computed by Twilio's helper library (not by
// touchline's code), for tests/integration/test_httpin.c.
// Usage: node twilio_sign.js AUTH_TOKEN URL FORM_BODY
// Prints the X-Twilio-Signature value, after checking it with validateRequest as Twilio's
// SDK users do.
'use strict';
const twilio = require('twilio');

const [token, url, body] = process.argv.slice(2);
const params = {};
for (const [k, v] of new URLSearchParams(body)) {
    params[k] = v;
}
const sig = twilio.getExpectedTwilioSignature(token, url, params);
if (!twilio.validateRequest(token, sig, url, params)) {
    process.stderr.write('twilio.validateRequest refused its own signature\n');
    process.exit(1);
}
process.stdout.write(sig + '\n');
