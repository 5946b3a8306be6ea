using System.Net;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WorkflowSdk;

namespace WorkflowSdk.Tests;

/// <summary>
/// The hosted worker and the client against an in-process stand-in for the sidecar's TaskHubSidecarService
/// (h2c on a free port): the stand-in hands out work items and records what comes back.
/// </summary>
public sealed class WorkerTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly FakeSidecar sidecar = new();
    private WebApplication? server;
    private string address = string.Empty;

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this.sidecar);
        this.server = builder.Build();
        this.server.MapGrpcService<FakeSidecar.Service>();
        await this.server.StartAsync();
        this.address = this.server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        if (this.server is not null)
        {
            await this.server.StopAsync();
            await this.server.DisposeAsync();
        }
    }

    private IHost BuildWorkerHost(string? apiToken = null)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration["DAPR_GRPC_ENDPOINT"] = this.address;
        if (apiToken is not null)
        {
            builder.Configuration["DAPR_API_TOKEN"] = apiToken;
        }

        builder.Services.AddSingleton<Greeter>();
        builder.Services.AddDaprWorkflow(o =>
        {
            o.RegisterWorkflow<GreetingWorkflow>();
            o.RegisterActivity<GreetActivity>();
        });
        return builder.Build();
    }

    [Fact]
    public async Task Worker_says_hello_runs_work_items_and_reports_results()
    {
        using IHost host = this.BuildWorkerHost(apiToken: "s3cret");
        await host.StartAsync();
        using var cts = new CancellationTokenSource(Deadline);

        await this.sidecar.Connected.Reader.ReadAsync(cts.Token);
        this.sidecar.HelloCount.Should().BeGreaterThan(0);
        this.sidecar.LastApiToken.Should().Be("s3cret");

        var orchestration = new OrchestratorRequest { InstanceId = "g-1" };
        orchestration.NewEvents.Add(Events.OrchestratorStarted(DateTime.UtcNow));
        orchestration.NewEvents.Add(Events.Started(nameof(GreetingWorkflow), "\"Ada\""));
        await this.sidecar.WorkItems.Writer.WriteAsync(new WorkItem { OrchestratorRequest = orchestration }, cts.Token);

        OrchestratorResponse turn = await this.sidecar.OrchestratorResults.Reader.ReadAsync(cts.Token);
        turn.InstanceId.Should().Be("g-1");
        turn.Actions.Should().ContainSingle().Which.ScheduleTask.Name.Should().Be(nameof(GreetActivity));

        var activity = new ActivityRequest
        {
            Name = nameof(GreetActivity),
            Input = turn.Actions[0].ScheduleTask.Input,
            TaskId = 0,
            OrchestrationInstance = new OrchestrationInstance { InstanceId = "g-1" },
        };
        await this.sidecar.WorkItems.Writer.WriteAsync(new WorkItem { ActivityRequest = activity }, cts.Token);

        ActivityResponse result = await this.sidecar.ActivityResults.Reader.ReadAsync(cts.Token);
        result.InstanceId.Should().Be("g-1");
        result.Result.Should().Be("""["Hello, Ada! (GreetActivity for g-1)"]""");

        await host.StopAsync(cts.Token);
    }

    [Fact]
    public async Task Worker_reconnects_when_the_stream_ends()
    {
        using IHost host = this.BuildWorkerHost();
        await host.StartAsync();
        using var cts = new CancellationTokenSource(Deadline);
        await this.sidecar.Connected.Reader.ReadAsync(cts.Token);

        this.sidecar.EndStreams();

        await this.sidecar.Connected.Reader.ReadAsync(cts.Token);
        this.sidecar.StreamCount.Should().BeGreaterThanOrEqualTo(2);
        await host.StopAsync(cts.Token);
    }

    [Fact]
    public async Task Client_calls_map_to_the_sidecar_rpcs()
    {
        using IHost host = this.BuildWorkerHost();
        DaprWorkflowClient client = host.Services.GetRequiredService<DaprWorkflowClient>();
        DateTime start = new(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc);

        string id = await client.ScheduleNewWorkflowAsync("GreetingWorkflow", input: new { name = "Ada" }, startTime: start);

        id.Should().NotBeNullOrEmpty();
        CreateInstanceRequest created = this.sidecar.Created.Should().ContainSingle().Subject;
        created.InstanceId.Should().Be(id);
        created.Name.Should().Be("GreetingWorkflow");
        created.Input.Should().Be("""{"name":"Ada"}""");
        created.ScheduledStartTimestamp.ToDateTime().Should().Be(start);

        (await client.GetWorkflowStateAsync("nobody")).Exists.Should().BeFalse();

        WorkflowState state = await client.GetWorkflowStateAsync(id);
        state.Exists.Should().BeTrue();
        state.RuntimeStatus.Should().Be(WorkflowRuntimeStatus.Completed);
        state.ReadInputAs<GreetingInput>()!.Name.Should().Be("Ada");
        state.ReadOutputAs<string>().Should().Be("done");
        state.ReadCustomStatusAs<int>().Should().Be(7);
        state.CreatedAt.Should().Be(new DateTimeOffset(start));

        WorkflowState completed = await client.WaitForWorkflowCompletionAsync(id);
        completed.IsWorkflowCompleted.Should().BeTrue();

        await client.RaiseEventAsync(id, "Approved", new { ok = true });
        this.sidecar.Raised.Should().ContainSingle(r => r.Name == "Approved" && r.Input == """{"ok":true}""");

        await client.TerminateWorkflowAsync(id, "bye");
        this.sidecar.Terminated.Should().ContainSingle(t => t.InstanceId == id && t.Output == "\"bye\"" && t.Recursive);

        (await client.PurgeInstanceAsync(id)).Should().BeTrue();
        (await client.PurgeInstanceAsync("nobody")).Should().BeFalse();
    }

    /// <summary>The sidecar stand-in: state shared by the gRPC service instances.</summary>
    public sealed class FakeSidecar
    {
        private CancellationTokenSource streamEnd = new();

        public Channel<WorkItem> WorkItems { get; } = Channel.CreateUnbounded<WorkItem>();
        public Channel<OrchestratorResponse> OrchestratorResults { get; } = Channel.CreateUnbounded<OrchestratorResponse>();
        public Channel<ActivityResponse> ActivityResults { get; } = Channel.CreateUnbounded<ActivityResponse>();
        public Channel<bool> Connected { get; } = Channel.CreateUnbounded<bool>();
        public List<CreateInstanceRequest> Created { get; } = new();
        public List<RaiseEventRequest> Raised { get; } = new();
        public List<TerminateRequest> Terminated { get; } = new();
        public int HelloCount;
        public int StreamCount;
        public string? LastApiToken;

        public void EndStreams()
        {
            CancellationTokenSource old = Interlocked.Exchange(ref this.streamEnd, new CancellationTokenSource());
            old.Cancel();
        }

        private OrchestrationState? Find(string id)
        {
            lock (this.Created)
            {
                CreateInstanceRequest? c = this.Created.FirstOrDefault(x => x.InstanceId == id);
                return c is null ? null : new OrchestrationState
                {
                    InstanceId = c.InstanceId,
                    Name = c.Name,
                    OrchestrationStatus = OrchestrationStatus.Completed,
                    CreatedTimestamp = c.ScheduledStartTimestamp,
                    LastUpdatedTimestamp = c.ScheduledStartTimestamp,
                    Input = c.Input,
                    Output = "\"done\"",
                    CustomStatus = "7",
                };
            }
        }

        public sealed class Service(FakeSidecar s) : TaskHubSidecarService.TaskHubSidecarServiceBase
        {
            public override Task<Empty> Hello(Empty request, ServerCallContext context)
            {
                Interlocked.Increment(ref s.HelloCount);
                s.LastApiToken = context.RequestHeaders.GetValue("dapr-api-token");
                return Task.FromResult(new Empty());
            }

            public override async Task GetWorkItems(GetWorkItemsRequest request, IServerStreamWriter<WorkItem> responseStream, ServerCallContext context)
            {
                Interlocked.Increment(ref s.StreamCount);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, s.streamEnd.Token);
                await s.Connected.Writer.WriteAsync(true);
                try
                {
                    await foreach (WorkItem item in s.WorkItems.Reader.ReadAllAsync(linked.Token))
                    {
                        await responseStream.WriteAsync(item);
                    }
                }
                catch (OperationCanceledException)
                {
                    // Stream ends (test asked, or the worker went away).
                }
            }

            public override async Task<CompleteTaskResponse> CompleteOrchestratorTask(OrchestratorResponse request, ServerCallContext context)
            {
                await s.OrchestratorResults.Writer.WriteAsync(request);
                return new CompleteTaskResponse();
            }

            public override async Task<CompleteTaskResponse> CompleteActivityTask(ActivityResponse request, ServerCallContext context)
            {
                await s.ActivityResults.Writer.WriteAsync(request);
                return new CompleteTaskResponse();
            }

            public override Task<CreateInstanceResponse> StartInstance(CreateInstanceRequest request, ServerCallContext context)
            {
                lock (s.Created)
                {
                    s.Created.Add(request);
                }

                return Task.FromResult(new CreateInstanceResponse { InstanceId = request.InstanceId });
            }

            public override Task<GetInstanceResponse> GetInstance(GetInstanceRequest request, ServerCallContext context) =>
                Task.FromResult(s.Find(request.InstanceId) is { } st
                    ? new GetInstanceResponse { Exists = true, OrchestrationState = st }
                    : new GetInstanceResponse { Exists = false });

            public override Task<GetInstanceResponse> WaitForInstanceCompletion(GetInstanceRequest request, ServerCallContext context) =>
                this.GetInstance(request, context);

            public override Task<RaiseEventResponse> RaiseEvent(RaiseEventRequest request, ServerCallContext context)
            {
                s.Raised.Add(request);
                return Task.FromResult(new RaiseEventResponse());
            }

            public override Task<TerminateResponse> TerminateInstance(TerminateRequest request, ServerCallContext context)
            {
                s.Terminated.Add(request);
                return Task.FromResult(new TerminateResponse());
            }

            public override Task<PurgeInstancesResponse> PurgeInstances(PurgeInstancesRequest request, ServerCallContext context) =>
                Task.FromResult(new PurgeInstancesResponse { DeletedInstanceCount = s.Find(request.InstanceId) is null ? 0 : 1 });
        }
    }
}
