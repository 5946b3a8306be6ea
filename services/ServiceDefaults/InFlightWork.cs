using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// The essay's wait group: streams and slow jobs register here while they run. On SIGTERM the app refuses new work,
/// and host shutdown is held until the registered work is done or <see cref="ShutdownOptions.GracePeriod"/> has passed;
/// then <see cref="GraceExpired"/> fires so unfinished work can be handed back (left unacknowledged or checkpointed)
/// instead of being cut off mid-way.
/// </summary>
public sealed class InFlightWork(IOptions<ShutdownOptions> options, ILogger<InFlightWork> logger) : IHostedLifecycleService
{
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _graceExpired = new();
    private TaskCompletionSource _drained = Completed();
    private int _count;

    /// <summary>True from SIGTERM (ApplicationStopping) on: no new work is accepted.</summary>
    public bool IsStopping { get; private set; }

    /// <summary>Cancelled when the grace period is over: work still running must stop and hand itself back.</summary>
    public CancellationToken GraceExpired => _graceExpired.Token;

    public int Count { get { lock (_lock) return _count; } }

    /// <summary>Registers one piece of work (wg.Add(1)); disposing the lease is wg.Done(). Null once shutdown has begun.</summary>
    public IDisposable? TryBegin()
    {
        lock (_lock)
        {
            if (IsStopping) return null;
            if (_count++ == 0) _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return new Lease(this);
        }
    }

    /// <summary>Like <see cref="TryBegin"/> for work that must not be refused, e.g. resuming a job persisted before a restart.</summary>
    public IDisposable Begin()
    {
        lock (_lock)
        {
            if (_count++ == 0) _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return new Lease(this);
        }
    }

    private void End()
    {
        lock (_lock)
        {
            if (--_count == 0) _drained.TrySetResult();
        }
    }

    /// <summary>Called on SIGTERM before the web server stops, so in-flight requests (streams) keep being served meanwhile.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_lock)
        {
            IsStopping = true;
            drained = _drained.Task;
        }
        logger.LogInformation("shutting down: waiting up to {Grace} for {Count} in-flight stream(s)/job(s)", options.Value.GracePeriod, Count);
        try
        {
            await drained.WaitAsync(options.Value.GracePeriod, cancellationToken);
            logger.LogInformation("in-flight work finished; stopping");
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            logger.LogWarning("grace period over with {Count} piece(s) of work in flight; handing them back", Count);
            await _graceExpired.CancelAsync();
            await WaitForHandBackAsync(drained, cancellationToken);
        }
    }

    /// <summary>Handing back is quick (a checkpoint, a terminal message); the host's own shutdown timeout bounds it.</summary>
    private static async Task WaitForHandBackAsync(Task drained, CancellationToken hostTimeout)
    {
        try
        {
            await drained.WaitAsync(hostTimeout);
        }
        catch (OperationCanceledException)
        {
            // The host is out of time; whatever has not handed back is cut off with the process.
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private sealed class Lease(InFlightWork owner) : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) owner.End();
        }
    }
}
