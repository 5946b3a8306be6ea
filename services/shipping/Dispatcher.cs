using System.Threading.Channels;
using Dapr.Client;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Shipping;

/// <summary>
/// Settles each accepted shipment when it is due. Pending shipments are also kept in the state store, so the ones
/// accepted before a restart are picked up again when the app starts.
/// </summary>
public sealed class Dispatcher(DaprClient dapr, ShipmentDesk desk, TimeProvider clock, ILogger<Dispatcher> logger) : BackgroundService
{
    private readonly Channel<Shipment> _accepted = Channel.CreateUnbounded<Shipment>();

    public void Schedule(Shipment shipment) => _accepted.Writer.TryWrite(shipment);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await dapr.WaitForSidecarAsync(stoppingToken);
        foreach (var orderId in await dapr.ReadIndexAsync(ShipmentDesk.PendingKey, stoppingToken))
        {
            if (await desk.GetAsync(orderId, stoppingToken) is { } pending) Schedule(pending);
        }

        var inFlight = new List<Task>();
        await foreach (var shipment in _accepted.Reader.ReadAllAsync(stoppingToken))
        {
            inFlight.RemoveAll(t => t.IsCompleted);
            inFlight.Add(SettleWhenDueAsync(shipment, stoppingToken));
        }
    }

    private async Task SettleWhenDueAsync(Shipment shipment, CancellationToken stoppingToken)
    {
        var orderId = shipment.Order.OrderId;
        try
        {
            var wait = shipment.DueAt - clock.GetUtcNow();
            if (wait > TimeSpan.Zero) await Task.Delay(wait, clock, stoppingToken);
            using var span = Tracing.StartDeferredWork("dispatch shipment", shipment.TraceParent);
            await desk.SettleAsync(orderId, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Still on the pending list: settled after the next start.
        }
        catch (Exception e)
        {
            logger.LogError(e, "order {OrderId}: settling the shipment failed; retrying", orderId);
            await Task.Delay(TimeSpan.FromSeconds(1), clock, stoppingToken);
            Schedule(shipment);
        }
    }
}
