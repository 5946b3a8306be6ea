using OrderFlow.ServiceDefaults;

namespace OrderFlow.Payments;

public static class PaymentsApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<PaymentsOptions>(builder.Configuration.GetSection("Payments"));
        builder.Services.AddSingleton<Cashier>();
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapPaymentsApi();
        return app;
    }
}

public sealed class PaymentsOptions
{
    /// <summary>The most one order may cost a customer without a limit of their own.</summary>
    public decimal DefaultLimit { get; set; } = 1000m;

    /// <summary>Limits per customer id.</summary>
    public Dictionary<string, decimal> Limits { get; set; } = [];

    public decimal LimitOf(string customerId) => Limits.TryGetValue(customerId, out var limit) ? limit : DefaultLimit;
}
