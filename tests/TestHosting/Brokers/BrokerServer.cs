using System.Diagnostics;
using System.Net.Sockets;
using DevSidecar.Hosting;
using Xunit;

namespace TestHosting.Brokers;

/// <summary>
/// A broker run as a child process on a free port with a private data folder, for one test or one test class (an
/// xUnit class fixture), or for a bench run. It can be stopped and started again on the same port and data, to play an
/// outage. Its binary comes from its Debian package (<see cref="BrokerBinary"/>).
/// </summary>
public abstract class BrokerServer : IAsyncLifetime, IAsyncDisposable
{
    private readonly List<TimeSpan> _startTimes = [];
    private readonly TempFolder _data;

    /// <param name="binary">The broker's program, as its Debian package installs it.</param>
    /// <param name="pubSubType">The pub/sub component type that talks to it, e.g. <c>pubsub.redis</c>.</param>
    /// <param name="defaultAddress">Its address in the repository's component folder, which a copy of the folder replaces
    /// with <see cref="Address"/> (<see cref="BrokerComponents"/>).</param>
    protected BrokerServer(string binary, string pubSubType, string defaultAddress)
    {
        Binary = binary;
        PubSubType = pubSubType;
        DefaultAddress = defaultAddress;
        _data = new TempFolder($"{binary}-");
    }

    public string Binary { get; }
    public string PubSubType { get; }
    public string DefaultAddress { get; }
    public string DataDir => _data.Path;
    public int Port { get; } = FreePorts.PickOutsideEphemeralRange();
    public bool IsRunning => Process is { HasExited: false };
    protected ChildProcess? Process { get; private set; }

    /// <summary>How long each start took until the broker accepted clients.</summary>
    public IReadOnlyList<TimeSpan> StartTimes => _startTimes;

    /// <summary>Where clients reach this broker (host:port or URL), as a component's metadata names it.</summary>
    public abstract string Address { get; }

    /// <summary>The pub/sub component's metadata for this broker.</summary>
    protected abstract IEnumerable<(string Key, string Value)> PubSubMetadata();

    /// <summary>The pub/sub component named <c>pubsub</c> that points at this broker, with <paramref name="extra"/> metadata.</summary>
    public string PubSubYaml(params (string Key, string Value)[] extra) => ComponentYaml.Of("pubsub", PubSubType, [.. PubSubMetadata(), .. extra]);

    /// <summary>What a user sets up on the running broker before starting apps on <paramref name="componentFolder"/>
    /// (JetStream: the streams its file lists); nothing for brokers whose component creates what it needs.</summary>
    public virtual Task PrepareForAsync(string componentFolder) => Task.CompletedTask;

    /// <summary>Makes <paramref name="topics"/> usable, as a user would before publishing or subscribing (JetStream: a
    /// stream per topic); nothing for brokers whose component creates what it needs.</summary>
    public virtual Task CreateTopicsAsync(params string[] topics) => Task.CompletedTask;

    /// <summary>The command that runs the broker, given the binary's path.</summary>
    protected abstract (string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment) Command(string binaryPath);

    /// <summary>Whether the broker accepts clients (beyond its port accepting connections).</summary>
    protected abstract Task<bool> AcceptsClientsAsync();

    protected abstract Task StopProcessAsync(ChildProcess process);

    public async Task StartAsync()
    {
        var started = Stopwatch.StartNew();
        var (program, arguments, environment) = Command(BrokerBinary.Require(Binary));
        var process = ChildProcess.Start(program, arguments, environment, DataDir);
        Process = process;
        try
        {
            await Wait.UntilAsync(async () => process.HasExited || (PortAccepts() && await AcceptsClientsAsync()),
                $"{Binary} accepting clients on port {Port}", TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException) { /* reported below with the output */ }
        if (process.HasExited || !PortAccepts())
            throw new InvalidOperationException($"{Binary} did not start on port {Port}:\n{string.Join('\n', process.LastLines(30))}");
        _startTimes.Add(started.Elapsed);
    }

    public async Task StopAsync()
    {
        if (Process is not { } process) return;
        Process = null;
        if (!process.HasExited) await StopProcessAsync(process);
        await Wait.UntilAsync(() => !PortAccepts(), $"{Binary} closed port {Port}");
        await process.DisposeAsync();
    }

    /// <summary>Waits for a process that was asked to stop; kills it if it has not exited by the deadline.</summary>
    protected static async Task WaitForExitOrKillAsync(ChildProcess process, TimeSpan deadline)
    {
        try
        {
            await process.WaitForExitAsync(deadline);
        }
        catch (TimeoutException)
        {
            process.Kill();
            await process.WaitForExitAsync(deadline);
        }
    }

    protected bool PortAccepts()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public Task InitializeAsync() => StartAsync();

    public async Task DisposeAsync()
    {
        await StopAsync();
        _data.Dispose();
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();
}

public static class BrokerServerExtensions
{
    /// <summary>Starts the broker and returns it: <c>await using var redis = await new RedisServerProcess().StartedAsync();</c></summary>
    public static async Task<T> StartedAsync<T>(this T server) where T : BrokerServer
    {
        await server.StartAsync();
        return server;
    }
}
