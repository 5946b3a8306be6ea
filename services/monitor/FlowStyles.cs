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
/// tell; the orchestrator does: a flow is orchestrated when it holds a workflow for the order. It is asked once per
/// flow, at the flow's first step after order-placed (in orchestration the workflow exists by then: that step is its
/// doing), off the event's delivery path: without an orchestrator app the sidecar takes seconds to give up on it.
/// FlowBook asks for styles and records them, so it is taken from <paramref name="services"/> when needed (each needs the other).
/// </summary>
public sealed class FlowStyles(Workflows workflows, IServiceProvider services, ILogger<FlowStyles> logger) : BackgroundService
{
    private readonly Channel<string> _pending = Channel.CreateUnbounded<string>();

    /// <summary>Asks for the style of an order's flow, later.</summary>
    public void Resolve(string orderId) => _pending.Writer.TryWrite(orderId);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // In parallel: with many orders in flight, one slow answer must not hold up the others.
        Parallel.ForEachAsync(_pending.Reader.ReadAllAsync(stoppingToken), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = stoppingToken },
            async (orderId, ct) =>
            {
                try
                {
                    // No workflow, or no answer at all (no orchestrator app runs): nothing orchestrates the order.
                    var style = await workflows.OfAsync(orderId, ct) is not null ? FlowMap.Orchestration : FlowMap.Choreography;
                    await services.GetRequiredService<FlowBook>().SetStyleAsync(orderId, style, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "order {OrderId}: could not tell its style; asking again at its next step", orderId);
                }
            });
}
