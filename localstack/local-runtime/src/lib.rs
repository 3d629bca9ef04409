//! What the emulator cannot run, run locally with AWS semantics (in progress: the Lambda
//! Runtime API, the Kinesis event source mapping, Firehose to S3, API Gateway).
