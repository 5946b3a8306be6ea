using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace OrderFlow.Monitor;

/// <summary>
/// Tells whoever listens (the flow page, through <c>GET /flows/events</c>) which order's flow just changed; a listener
/// reads the flow itself through the API. In-process: a listener hears the changes this monitor instance made.
/// </summary>
public sealed class FlowChanges
{
    private readonly Lock _gate = new();
    private readonly List<ChannelWriter<string>> _listeners = [];

    public void Announce(string orderId)
    {
        lock (_gate)
            foreach (var listener in _listeners) listener.TryWrite(orderId);
    }

    /// <summary>Starts listening now (so that nothing announced from here on is missed); dispose to stop.</summary>
    public Listener Listen()
    {
        // Bounded: a listener that reads slowly loses the oldest announcements, not the monitor's memory.
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_gate) _listeners.Add(channel.Writer);
        return new Listener(channel.Reader, () => { lock (_gate) _listeners.Remove(channel.Writer); });
    }

    public sealed class Listener(ChannelReader<string> reader, Action stop) : IDisposable
    {
        /// <summary>The ids of the orders whose flow changed; <paramref name="ct"/> ends the sequence (quietly).</summary>
        public async IAsyncEnumerable<string> ReadAllAsync([EnumeratorCancellation] CancellationToken ct)
        {
            while (await WaitQuietlyAsync(ct))
                while (reader.TryRead(out var orderId)) yield return orderId;
        }

        public void Dispose() => stop();

        private async Task<bool> WaitQuietlyAsync(CancellationToken ct)
        {
            try
            {
                return await reader.WaitToReadAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }
}
