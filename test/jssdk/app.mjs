// An app built on the Dapr JavaScript SDK's DaprServer, run by cove with its
// own sidecar. argv[2] is the protocol its sidecar calls it with (http or
// grpc). It answers invocations of "echo" with what it received, subscribes
// to pubsub/orders and answers "received" with the events' data so far.
import { CommunicationProtocolEnum, DaprServer, HttpMethod } from "@dapr/dapr";

const protocol = process.argv[2];
const grpc = protocol === "grpc";
const server = new DaprServer({
  serverHost: "127.0.0.1",
  serverPort: process.env.PORT,
  communicationProtocol: grpc ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP,
  clientOptions: {
    daprHost: "127.0.0.1",
    daprPort: grpc ? process.env.DAPR_GRPC_PORT : process.env.DAPR_HTTP_PORT,
  },
  logger: { level: 1 }, // warnings and errors only
});

const received = [];

await server.invoker.listen(
  "echo",
  async ({ body, query, headers }) => ({
    app: process.env.APP_ID,
    protocol,
    body: typeof body === "string" ? JSON.parse(body || "null") : body,
    query: query ?? null,
    caller: headers?.["dapr-caller-app-id"] ?? null,
    header: headers?.["x-cove-test"] ?? null,
  }),
  { method: HttpMethod.POST },
);
await server.invoker.listen("received", async () => received, { method: HttpMethod.GET });
await server.pubsub.subscribe("pubsub", "orders", async (data) => {
  received.push(data);
});

await server.start();
console.log(`${process.env.APP_ID} serving ${protocol} on ${process.env.PORT}`);
