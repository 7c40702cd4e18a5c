// An app built on the Dapr JavaScript SDK's DaprServer, run by cove with its
// own sidecar. argv[2] is the protocol its sidecar calls it with (http or
// grpc). It answers invocations of "echo" with what it received, subscribes
// to a topic of pubsub and answers "received" with the events' data so far.
// Over HTTP it also hosts the actor type CounterActor (the SDK's actors are
// HTTP only).
import { AbstractActor, CommunicationProtocolEnum, DaprServer, HttpMethod, Temporal } from "@dapr/dapr";

// CounterActor keeps a count in actor state, and counts the firings of its
// reminder and timer with the data they bring.
class CounterActor extends AbstractActor {
  async add(n) {
    const count = ((await this.stored("count")) ?? 0) + n;
    await this.getStateManager().setState("count", count);
    return { count, app: process.env.APP_ID };
  }

  // touch adds one: a method without arguments, which the SDK's gRPC client
  // can call too (see check.mjs).
  async touch() {
    return this.add(1);
  }

  async startReminder(data) {
    await this.registerActorReminder("ping", ms(100), ms(60_000), undefined, data);
  }

  async stopReminder() {
    await this.unregisterActorReminder("ping");
  }

  async receiveReminder(data) {
    const fired = (await this.stored("reminded")) ?? { count: 0 };
    await this.getStateManager().setState("reminded", { count: fired.count + 1, data });
  }

  async startTimer(data) {
    await this.registerActorTimer("tick", "onTick", ms(100), ms(100), undefined, data);
  }

  async stopTimer() {
    await this.unregisterActorTimer("tick");
  }

  async onTick(data) {
    const fired = (await this.stored("ticked")) ?? { count: 0 };
    await this.getStateManager().setState("ticked", { count: fired.count + 1, data });
  }

  // fired answers what the reminder and the timer did so far.
  async fired() {
    return { reminded: await this.stored("reminded"), ticked: await this.stored("ticked") };
  }

  async stored(name) {
    const [has, value] = await this.getStateManager().tryGetState(name);
    return has ? value : undefined;
  }
}

function ms(milliseconds) {
  return Temporal.Duration.from({ milliseconds });
}

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

// The topic is TOPIC, by default orders.
const topic = process.env.TOPIC || "orders";
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
await server.pubsub.subscribe("pubsub", topic, async (data) => {
  received.push(data);
});

if (!grpc) {
  await server.actor.init();
  await server.actor.registerActor(CounterActor);
}
await server.start();
console.log(`${process.env.APP_ID} serving ${protocol} on ${process.env.PORT}`);
