using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;

namespace OrderFlow.Monitor;

/// <summary>Checks every in-progress flow against its deadline each interval; reports (and optionally redrives) the overdue ones.</summary>
public sealed class StallDetector(DaprClient dapr, FlowBook flows, IOptions<MonitorOptions> options, ILogger<StallDetector> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await dapr.WaitForSidecarAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.CheckInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "checking flows failed; trying again next interval");
            }
        }
    }

    private async Task CheckAsync(CancellationToken ct)
    {
        var overdue = (await flows.ListOpenAsync(ct)).Where(f => f.Status == FlowStatus.InProgress && DateTimeOffset.UtcNow > flows.DueAt(f));
        // In parallel: with many overdue orders, one by one would report the last ones late.
        await Parallel.ForEachAsync(overdue, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (flow, token) =>
        {
            if (await flows.StallIfOverdueAsync(flow.OrderId, token) is not { } stalled) return;

            logger.LogWarning("order {OrderId} STALLED after {Step} at {At:HH:mm:ss.fff}: expected {Expected} by {Due:HH:mm:ss.fff}",
                stalled.OrderId, stalled.Last.Topic, stalled.LastStep.At, string.Join(" or ", stalled.Expected), flows.DueAt(stalled));
            await dapr.PublishEventAsync(Components.PubSub, Topics.FlowStalled,
                new FlowStalled(stalled.OrderId, stalled.Last.Topic, stalled.Expected, stalled.LastStep.At, stalled.StalledAt!.Value), token);
            if (options.Value.AutoRedrive) await flows.RedriveAsync(stalled.OrderId, token);
        });
    }
}
