using System.Collections.Concurrent;

namespace WorkflowSdk.Internal;

/// <summary>
/// Installed as <see cref="SynchronizationContext.Current"/> while a workflow turn executes. Every <c>await</c>
/// in workflow code captures it, so continuations are either run inline (when a task is completed on the
/// executor's thread, which is where the executor completes them) or posted here and run by
/// <see cref="Drain"/> on the executor's thread before the next history event is applied. Workflow code
/// therefore runs on one thread, in an order fixed by the history.
/// </summary>
internal sealed class WorkflowSynchronizationContext : SynchronizationContext
{
    private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> queue = new();
    private volatile bool closed;

    public override void Post(SendOrPostCallback d, object? state)
    {
        // After the turn is over, late continuations (e.g. from a non-durable Task.Delay that workflow
        // code should not have awaited) are dropped: the turn's result is already sent.
        if (!this.closed)
        {
            this.queue.Enqueue((d, state));
        }
    }

    public override void Send(SendOrPostCallback d, object? state) => d(state);

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs queued continuations until none are left.</summary>
    public void Drain()
    {
        while (this.queue.TryDequeue(out var item))
        {
            item.Callback(item.State);
        }
    }

    public void Close()
    {
        this.closed = true;
        this.queue.Clear();
    }
}
