using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace DevSidecar.PubSub.RabbitMQ;

/// <summary>
/// The component's one AMQP connection, opened on first use and opened again after it was lost. The client's own
/// automatic recovery is off: like contrib, the publisher and each subscription notice the loss and start over,
/// every reconnectWaitSeconds, which also re-declares exchanges and queues that a restarted broker forgot.
/// </summary>
internal sealed class RabbitMQConnection(RabbitMQMetadata metadata, string component, ILogger logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private IConnection? _connection;

    /// <summary>host:port, with AMQP's default port (5672, amqps 5671) when the URI names none.</summary>
    public string Endpoint => $"{metadata.ConnectionUri.Host}:{Port}";

    public int Port => metadata.ConnectionUri.Port is > 0 and var port ? port : metadata.ConnectionUri.Scheme == "amqps" ? 5671 : 5672;

    public async Task<IConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open) return open;
        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true } raced) return raced;
            if (_connection is not null) await DisposeQuietly(_connection);
            var factory = new ConnectionFactory
            {
                Uri = metadata.ConnectionUri,
                AutomaticRecoveryEnabled = false,
                TopologyRecoveryEnabled = false,
                RequestedHeartbeat = metadata.HeartBeat,
                ClientProvidedName = metadata.ClientName ?? $"dapr dev sidecar - {component}",
            };
            _connection = await factory.CreateConnectionAsync(cancellationToken);
            logger.LogInformation("{Component}: connected to RabbitMQ at {Endpoint}", component, Endpoint);
            return _connection;
        }
        finally
        {
            _lock.Release();
        }
    }

    private static async Task DisposeQuietly(IConnection connection)
    {
        try { await connection.DisposeAsync(); } catch { /* already broken */ }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            try { await _connection.CloseAsync(); } catch { /* the broker may be gone */ }
            await DisposeQuietly(_connection);
        }
        _lock.Dispose();
    }
}
