'use strict';
// The Lambda runtime's @aws-sdk/client-scheduler, loaded on first use (../runtime-sdk-client.cjs).
module.exports = require('../runtime-sdk-client.cjs')('@aws-sdk/client-scheduler');
