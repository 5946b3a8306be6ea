using Microsoft.DurableTask.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using WorkflowSdk;
using WorkflowSdk.Internal;

namespace WorkflowSdk.Tests;

public sealed class Greeter
{
    public string Greet(string name) => $"Hello, {name}!";
}

public sealed record GreetingInput(string Name, int Times);

public sealed class GreetActivity(Greeter greeter) : WorkflowActivity<GreetingInput, string[]>
{
    public override Task<string[]> RunAsync(WorkflowActivityContext context, GreetingInput input) =>
        Task.FromResult(Enumerable.Repeat($"{greeter.Greet(input.Name)} ({context.Identifier.Name} for {context.InstanceId})", input.Times).ToArray());
}

public sealed class FailingActivity : WorkflowActivity<string, string>
{
    public override async Task<string> RunAsync(WorkflowActivityContext context, string input)
    {
        await Task.Yield();
        throw new InvalidOperationException($"cannot handle {input}");
    }
}

public sealed class GreetingWorkflow : Workflow<string, string>
{
    public override async Task<string> RunAsync(WorkflowContext context, string input)
    {
        string[] lines = await context.CallActivityAsync<string[]>(nameof(GreetActivity), new GreetingInput(input, 1));
        return lines[0];
    }
}

public sealed class ActivityExecutorTests
{
    private static ActivityRequest Request(string name, string? input, int taskId = 3) => new()
    {
        Name = name,
        Input = input,
        TaskId = taskId,
        OrchestrationInstance = new OrchestrationInstance { InstanceId = "wf-9" },
    };

    private static (WorkflowRuntimeOptions Options, ServiceProvider Services) Registry()
    {
        var options = new WorkflowRuntimeOptions();
        options.RegisterActivity<GreetActivity>();
        options.RegisterActivity<FailingActivity>();
        options.RegisterActivity<int, int>("Double", (_, n) => Task.FromResult(n * 2));
        var services = new ServiceCollection().AddSingleton<Greeter>().BuildServiceProvider();
        return (options, services);
    }

    [Fact]
    public async Task Runs_a_registered_activity_with_constructor_injection_and_returns_json()
    {
        var (options, services) = Registry();

        ActivityResponse r = await ActivityExecutor.ExecuteAsync(
            Request("GreetActivity", """{"name":"Ada","times":2}"""), n => options.CreateActivity(n, services));

        r.InstanceId.Should().Be("wf-9");
        r.TaskId.Should().Be(3);
        r.FailureDetails.Should().BeNull();
        r.Result.Should().Be("""["Hello, Ada! (GreetActivity for wf-9)","Hello, Ada! (GreetActivity for wf-9)"]""");
    }

    [Fact]
    public async Task Function_activities_and_case_insensitive_names()
    {
        var (options, services) = Registry();

        ActivityResponse r = await ActivityExecutor.ExecuteAsync(Request("double", "21"), n => options.CreateActivity(n, services));

        r.Result.Should().Be("42");
    }

    [Fact]
    public async Task An_exception_becomes_failure_details()
    {
        var (options, services) = Registry();

        ActivityResponse r = await ActivityExecutor.ExecuteAsync(Request("FailingActivity", "\"x\""), n => options.CreateActivity(n, services));

        r.Result.Should().BeNull();
        r.FailureDetails.ErrorType.Should().Be("System.InvalidOperationException");
        r.FailureDetails.ErrorMessage.Should().Be("cannot handle x");
        r.FailureDetails.StackTrace.Should().Contain(nameof(FailingActivity));
    }

    [Fact]
    public async Task An_unknown_activity_is_a_failure()
    {
        var (options, services) = Registry();

        ActivityResponse r = await ActivityExecutor.ExecuteAsync(Request("Missing", null), n => options.CreateActivity(n, services));

        r.FailureDetails.ErrorMessage.Should().Contain("Missing");
        r.TaskId.Should().Be(3);
    }

    [Fact]
    public void Class_workflows_register_under_their_class_name()
    {
        var options = new WorkflowRuntimeOptions();
        options.RegisterWorkflow<GreetingWorkflow>();
        var services = new ServiceCollection().BuildServiceProvider();
        var engine = new FakeEngine(n => options.CreateWorkflow(n, services));

        OrchestratorResponse r1 = engine.Turn(Events.Started("GreetingWorkflow", "\"Bob\""));
        r1.Actions.Single().ScheduleTask.Name.Should().Be("GreetActivity");
        r1.Actions.Single().ScheduleTask.Input.Should().Be("""{"name":"Bob","times":1}""");

        engine.Turn(Events.TaskCompleted(0, """["hi Bob"]""")).Completion()!.Result.Should().Be("\"hi Bob\"");
    }

    [Fact]
    public void AddDaprWorkflow_registers_the_client_and_the_hosted_worker()
    {
        var services = new ServiceCollection();
        services.AddDaprWorkflow(o =>
        {
            o.RegisterWorkflow<GreetingWorkflow>();
            o.RegisterActivity<GreetActivity>();
        });
        using ServiceProvider sp = services.BuildServiceProvider();

        sp.GetRequiredService<DaprWorkflowClient>().Should().NotBeNull();
        sp.GetServices<IHostedService>().Should().ContainSingle(s => s.GetType().Name == "WorkflowWorker");
    }

    [Theory]
    [InlineData(null, null, "http://127.0.0.1:50001/")]
    [InlineData(null, "50123", "http://127.0.0.1:50123/")]
    [InlineData("http://sidecar:4001", "50123", "http://sidecar:4001/")]
    [InlineData("localhost:4002", null, "http://localhost:4002/")]
    public void Sidecar_endpoint_comes_from_DAPR_GRPC_ENDPOINT_then_DAPR_GRPC_PORT(string? endpoint, string? port, string expected)
    {
        SidecarConnection.ResolveEndpoint(endpoint, port).ToString().Should().Be(expected);
    }

    [Fact]
    public void Replay_safe_logger_logs_only_when_not_replaying()
    {
        var provider = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Trace));
        var wf = new Wf<string, string>(async (ctx, _) =>
        {
            ILogger log = ctx.CreateReplaySafeLogger("Test");
            log.LogInformation("before {Replaying}", ctx.IsReplaying);
            await ctx.CallActivityAsync("A");
            log.LogInformation("after {Replaying}", ctx.IsReplaying);
            return "ok";
        });
        var engine = new FakeEngine("W", wf, factory);
        engine.Turn(Events.Started("W"));
        engine.Turn(Events.TaskCompleted(0, null));

        provider.Messages.Should().Equal("before False", "after False");
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new ListLogger(this.Messages);

        public void Dispose()
        {
        }

        private sealed class ListLogger(List<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => NullLogger.Instance.BeginScope(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Add(formatter(state, exception));
        }
    }
}
