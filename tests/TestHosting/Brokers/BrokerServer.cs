using System.Diagnostics;
using System.Net.Sockets;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A broker run as a child process on free ports with a private data folder, for one test class (an xUnit class
/// fixture). It can be stopped and started again on the same port and data, to test outages.
/// </summary>
public abstract class BrokerServer : IAsyncLifetime
{
    private readonly List<TimeSpan> _startTimes = [];
    protected Process? Process { get; private set; }

    protected BrokerServer(string binary)
    {
        Binary = binary;
        DataDir = Path.Combine(Path.GetTempPath(), "devsidecar-mq-broker", $"{binary}-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(DataDir);
    }

    public string Binary { get; }
    public string DataDir { get; }
    public int Port { get; } = TestApp.FreePort();
    public bool IsRunning => Process is { HasExited: false };

    /// <summary>How long each start took until the broker accepted clients.</summary>
    public IReadOnlyList<TimeSpan> StartTimes => _startTimes;

    /// <summary>The pub/sub component named "pubsub" that points at this broker.</summary>
    public abstract string PubSubYaml();

    protected abstract ProcessStartInfo StartInfo(string binaryPath);

    /// <summary>Completes when the broker accepts clients (beyond its port accepting connections).</summary>
    protected abstract Task<bool> AcceptsClientsAsync();

    protected abstract Task StopProcessAsync(Process process);

    public async Task StartAsync()
    {
        var started = Stopwatch.StartNew();
        var info = StartInfo(BrokerBinary.Require(Binary));
        info.RedirectStandardOutput = info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var process = System.Diagnostics.Process.Start(info)!;
        // Drained so the broker never blocks on a full pipe; kept for the error message.
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Process = process;
        try
        {
            await Wait.UntilAsync(async () => process.HasExited || (PortAccepts() && await AcceptsClientsAsync()),
                $"{Binary} accepting clients on port {Port}", TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException) { /* reported below with the output */ }
        if (process.HasExited || !PortAccepts())
            throw new InvalidOperationException($"{Binary} did not start on port {Port}:\n{string.Join('\n', output.TakeLast(30))}");
        _startTimes.Add(started.Elapsed);
    }

    public async Task StopAsync()
    {
        if (Process is not { } process) return;
        Process = null;
        if (!process.HasExited) await StopProcessAsync(process);
        await Wait.UntilAsync(() => !PortAccepts(), $"{Binary} closed port {Port}");
        process.Dispose();
    }

    /// <summary>Waits for a process that was asked to stop; kills it if it has not exited by the deadline.</summary>
    protected static async Task WaitForExitOrKillAsync(Process process, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
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
        try { Directory.Delete(DataDir, recursive: true); } catch { /* best effort */ }
    }
}
