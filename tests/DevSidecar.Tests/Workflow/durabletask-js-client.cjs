// Drives the dev sidecar's workflow engine with the official JavaScript SDK, @dapr/durabletask-js (code we did not
// write): its worker runs a workflow (an activity chain, a durable timer, an external event, a custom status) and its
// client schedules the workflow, raises the event and waits for the result. Prints the outcome as one line: RESULT {json}.
// Needs DAPR_GRPC_PORT, and NODE_PATH pointing at tools/Workflow.Protos/node_modules.
const { TaskHubGrpcClient, TaskHubGrpcWorker } = require("@dapr/durabletask-js");

const address = `127.0.0.1:${process.env.DAPR_GRPC_PORT}`;

const greet = async (_context, name) => `Hello ${name}!`;

const greetThenWaitForApproval = async function* (context, names) {
  const greetings = [];
  for (const name of names) greetings.push(yield context.callActivity(greet, name));
  yield context.createTimer(1); // seconds
  const approval = yield context.waitForExternalEvent("approval");
  context.setCustomStatus("approved");
  return { greetings, approvedBy: approval.by };
};

async function main() {
  const worker = new TaskHubGrpcWorker(address);
  worker.addOrchestrator(greetThenWaitForApproval);
  worker.addActivity(greet);
  await worker.start();

  const client = new TaskHubGrpcClient(address);
  const instanceId = await client.scheduleNewOrchestration(greetThenWaitForApproval, ["Tokyo", "Lima"], process.env.INSTANCE_ID);
  await client.waitForOrchestrationStart(instanceId, false, 30);
  await client.raiseOrchestrationEvent(instanceId, "approval", { by: "ops" });
  const state = await client.waitForOrchestrationCompletion(instanceId, true, 60);

  console.log("RESULT " + JSON.stringify({
    instanceId,
    status: state.runtimeStatus,
    output: JSON.parse(state.serializedOutput),
    customStatus: state.serializedCustomStatus,
  }));
  await worker.stop();
  await client.stop();
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
