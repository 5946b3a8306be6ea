using OrderFlow.Contracts;

namespace TestHosting;

/// <summary>The order-flow apps: the table every test and the bench start them from.</summary>
public static class OrderFlowApps
{
    public static readonly HostedApp Orders = new(AppIds.Orders, OrderFlow.Orders.OrdersApp.Build, "services/orders", "Orders");
    public static readonly HostedApp Inventory = new(AppIds.Inventory, OrderFlow.Inventory.InventoryApp.Build, "services/inventory", "Inventory");
    public static readonly HostedApp Payments = new(AppIds.Payments, OrderFlow.Payments.PaymentsApp.Build, "services/payments", "Payments");
    public static readonly HostedApp Shipping = new(AppIds.Shipping, OrderFlow.Shipping.ShippingApp.Build, "services/shipping", "Shipping");
    public static readonly HostedApp Notifications = new(AppIds.Notifications, OrderFlow.Notifications.NotificationsApp.Build, "services/notifications", "Notifications");
    public static readonly HostedApp Monitor = new(AppIds.Monitor, OrderFlow.Monitor.MonitorApp.Build, "services/monitor", "Monitor");
    public static readonly HostedApp Orchestrator = new(AppIds.Orchestrator, OrderFlow.Orchestrator.OrchestratorApp.Build, "services/orchestrator", "Orchestrator");

    /// <summary>
    /// The apps of a flow style, in start order: the five services, the monitor (unless <paramref name="monitor"/> is
    /// false), and in the orchestration style the orchestrator. The style's own folder, components/{style}, holds its
    /// subscriptions.
    /// </summary>
    public static IReadOnlyList<HostedApp> Of(string style, bool monitor = true) =>
    [
        Orders, Inventory, Payments, Shipping, Notifications,
        .. monitor ? [Monitor] : Array.Empty<HostedApp>(),
        .. style == "orchestration" ? [Orchestrator] : Array.Empty<HostedApp>(),
    ];
}

/// <summary>The order-flow apps' settings a test or the bench chooses; each is passed as an argument only when set.</summary>
public sealed record OrderFlowSettings
{
    /// <summary>How long shipping takes to dispatch.</summary>
    public TimeSpan? DispatchDelay { get; init; }

    /// <summary>Countries shipping refuses.</summary>
    public IReadOnlyList<string> UndeliverableCountries { get; init; } = [];

    /// <summary>The payments limit for every customer.</summary>
    public decimal? CreditLimit { get; init; }

    public TimeSpan? MonitorCheckInterval { get; init; }

    /// <summary>How long the monitor gives each step; payment-charged also gets the dispatch delay.</summary>
    public TimeSpan? MonitorDeadline { get; init; }

    /// <summary>The apps' command-line arguments.</summary>
    public string[] Args()
    {
        var args = new List<string>();
        if (DispatchDelay is { } delay) args.Add($"--Shipping:DispatchDelay={delay}");
        args.AddRange(UndeliverableCountries.Select((country, i) => $"--Shipping:UndeliverableCountries:{i}={country}"));
        if (CreditLimit is { } limit) args.Add($"--Payments:DefaultLimit={limit}");
        if (MonitorCheckInterval is { } interval) args.Add($"--Monitor:CheckInterval={interval}");
        if (MonitorDeadline is { } deadline)
        {
            args.Add($"--Monitor:DefaultDeadline={deadline}");
            if (DispatchDelay is { } dispatch) args.Add($"--Monitor:Deadlines:payment-charged={dispatch + deadline}");
        }
        return [.. args];
    }
}
