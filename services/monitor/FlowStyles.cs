using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

/// <summary>
/// The monitor's one way to ask the orchestrator about an order's workflow (its instance id is the order id):
/// <c>GET workflows/{orderId}</c> on the orchestrator app, answering its runtime status and custom status.
/// </summary>
public sealed class Workflows(IHttpClientFactory http)
{
    /// <summary>The order's workflow; null when the orchestrator has none for it, or does not answer.</summary>
    public async Task<JsonElement?> OfAsync(string orderId, CancellationToken ct)
    {
        try
        {
            using var response = await http.CreateAppClient(AppIds.Orchestrator).GetAsync($"workflows/{Uri.EscapeDataString(orderId)}", ct);
            return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonElement>(ct) : null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}

/// <summary>
/// Finds which style ran each order. Every service publishes its step's event in both styles, so the publishers do not
/// tell; the orchestrator does: a flow is orchestrated when it holds a workflow for the order. Asked only when someone
/// reads a flow whose style is not known yet (the API, the flow page), not while events are recorded: the order flow
/// pays no call for it (#17), and a flow nobody looks at is never asked about. Asked once the flow is past order-placed
/// (in orchestration the workflow exists by then: that step is its doing), off the request's path: without an
/// orchestrator app the sidecar takes seconds to give up on it. The style found is stored with the flow, whose change
/// the flow page hears and reads again.
/// </summary>
public sealed class FlowStyles(Workflows workflows, FlowBook flows, ILogger<FlowStyles> logger) : BackgroundService
{
    private readonly Channel<string> _pending = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, byte> _asking = new();

    /// <summary>Asks for the style of a flow that was read, later, if it is not known and can be told yet.</summary>
    public void ResolveIfUnknown(Flow flow)
    {
        if (flow.Style is null && flow.Steps.Any(s => s.Step != Topics.OrderPlaced) && _asking.TryAdd(flow.OrderId, 0))
            _pending.Writer.TryWrite(flow.OrderId);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // In parallel: with many orders in flight, one slow answer must not hold up the others.
        Parallel.ForEachAsync(_pending.Reader.ReadAllAsync(stoppingToken), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = stoppingToken },
            async (orderId, ct) =>
            {
                try
                {
                    // No workflow, or no answer at all (no orchestrator app runs): nothing orchestrates the order.
                    var style = await workflows.OfAsync(orderId, ct) is not null ? FlowMap.Orchestration : FlowMap.Choreography;
                    await flows.SetStyleAsync(orderId, style, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "order {OrderId}: could not tell its style; asking again when it is read next", orderId);
                }
                finally
                {
                    _asking.TryRemove(orderId, out _);
                }
            });
}
