using Dapr.Client;
using Microsoft.Extensions.Options;

namespace OrderFlow.Inventory;

/// <summary>Writes the configured initial stock once the sidecar answers.</summary>
public sealed class StockSeeder(DaprClient dapr, Warehouse warehouse, IOptions<InventoryOptions> options, ILogger<StockSeeder> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await dapr.WaitForSidecarAsync(stoppingToken);
        foreach (var (sku, available) in options.Value.InitialStock)
            await warehouse.SeedAsync(sku, available, stoppingToken);
        logger.LogInformation("initial stock written for {Count} sku(s)", options.Value.InitialStock.Count);
    }
}
