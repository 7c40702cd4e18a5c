package components

import "slices"

// daprTypes are the component types daprd 1.18 registers, sorted: what a
// real Dapr or ACA environment may hold. A type here that cove has no
// implementation of is one it does not run yet, not a typo.
var daprTypes = []string{
	"bindings.alicloud.dingtalk.webhook", "bindings.alicloud.dubbo", "bindings.alicloud.oss",
	"bindings.alicloud.sls", "bindings.alicloud.tablestore", "bindings.apns", "bindings.aws.dynamodb",
	"bindings.aws.kinesis", "bindings.aws.s3", "bindings.aws.ses", "bindings.aws.sns", "bindings.aws.sqs",
	"bindings.azure.blobstorage", "bindings.azure.cosmosdb", "bindings.azure.cosmosdb.gremlinapi",
	"bindings.azure.eventgrid", "bindings.azure.eventhubs", "bindings.azure.openai",
	"bindings.azure.servicebus.queues", "bindings.azure.servicebusqueues", "bindings.azure.signalr",
	"bindings.azure.storagequeues", "bindings.cloudflare.queues", "bindings.commercetools", "bindings.cron",
	"bindings.dingtalk.webhook", "bindings.dubbo", "bindings.gcp.bucket", "bindings.gcp.pubsub",
	"bindings.graphql", "bindings.http", "bindings.huawei.obs", "bindings.influx", "bindings.kafka",
	"bindings.kubemq", "bindings.kubernetes", "bindings.localstorage", "bindings.mqtt", "bindings.mqtt3",
	"bindings.mysql", "bindings.postgres", "bindings.postgresql", "bindings.postmark", "bindings.rabbitmq",
	"bindings.redis", "bindings.rethinkdb.statechange", "bindings.rocketmq", "bindings.sftp", "bindings.smtp",
	"bindings.twilio.sendgrid", "bindings.twilio.sms", "bindings.wasm", "bindings.zeebe.command",
	"bindings.zeebe.jobworker",
	"configuration.azure.appconfig", "configuration.kubernetes", "configuration.postgres",
	"configuration.postgresql", "configuration.redis",
	"conversation.anthropic", "conversation.aws.bedrock", "conversation.deepseek", "conversation.echo",
	"conversation.googleai", "conversation.huggingface", "conversation.mistral", "conversation.ollama",
	"conversation.openai",
	"crypto.azure.keyvault", "crypto.dapr.jwks", "crypto.dapr.kubernetes.secrets", "crypto.dapr.localstorage",
	"lock.redis",
	"middleware.http.bearer", "middleware.http.oauth2", "middleware.http.oauth2clientcredentials",
	"middleware.http.opa", "middleware.http.ratelimit", "middleware.http.routeralias",
	"middleware.http.routerchecker", "middleware.http.sentinel", "middleware.http.uppercase",
	"middleware.http.wasm",
	"nameresolution.aws.cloudmap", "nameresolution.consul", "nameresolution.hashicorp.consul",
	"nameresolution.kubernetes", "nameresolution.mdns", "nameresolution.nameformat", "nameresolution.sqlite",
	"pubsub.aws.snssqs", "pubsub.azure.eventhubs", "pubsub.azure.servicebus", "pubsub.azure.servicebus.queues",
	"pubsub.azure.servicebus.topics", "pubsub.azure.servicebusqueues", "pubsub.gcp.pubsub", "pubsub.in-memory",
	"pubsub.jetstream", "pubsub.kafka", "pubsub.kubemq", "pubsub.mqtt", "pubsub.mqtt3", "pubsub.pulsar",
	"pubsub.rabbitmq", "pubsub.redis", "pubsub.rocketmq", "pubsub.snssqs", "pubsub.solace.amqp",
	"secretstores.alicloud.parameterstore", "secretstores.aws.parameterstore", "secretstores.aws.secretmanager",
	"secretstores.azure.keyvault", "secretstores.gcp.secretmanager", "secretstores.hashicorp.vault",
	"secretstores.huaweicloud.csms", "secretstores.kubernetes", "secretstores.local.env",
	"secretstores.local.file", "secretstores.tencentcloud.ssm",
	"state.aerospike", "state.alicloud.tablestore", "state.aws.dynamodb", "state.azure.blobstorage",
	"state.azure.cosmosdb", "state.azure.tablestorage", "state.cassandra", "state.cloudflare.workerskv",
	"state.cockroachdb", "state.coherence", "state.consul", "state.couchbase", "state.etcd",
	"state.gcp.firestore", "state.hashicorp.consul", "state.hazelcast", "state.in-memory", "state.jetstream",
	"state.memcached", "state.mongodb", "state.mysql", "state.oci.objectstorage", "state.oracledatabase",
	"state.postgres", "state.postgresql", "state.ravendb", "state.redis", "state.rethinkdb", "state.sqlite",
	"state.sqlite3", "state.sqlserver", "state.yugabyte", "state.yugabytedb", "state.zookeeper",
}

// IsDaprType reports whether typ is a component type daprd knows.
func IsDaprType(typ string) bool {
	_, ok := slices.BinarySearch(daprTypes, typ)
	return ok
}
