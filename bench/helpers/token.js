// The Node helper of the whole-process comparison (bench/process.sh): prints the access token
// of a JSON credentials file, as the sample code of many guides does: read the file, check the
// expiry, print the token. The benchmark's token is always fresh, so no refresh is needed;
// an expired one is reported (exit 1) instead of being printed.
'use strict';
const fs = require('fs');

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node token.js CREDENTIALS.json\n');
  process.exit(2);
}
const creds = JSON.parse(fs.readFileSync(file, 'utf8'));
if (typeof creds.access_token !== 'string' || !(creds.expires_at > Date.now() / 1000 + 30)) {
  process.stderr.write(`the access token in ${file} has expired: refresh it\n`);
  process.exit(1);
}
process.stdout.write(creds.access_token + '\n');
