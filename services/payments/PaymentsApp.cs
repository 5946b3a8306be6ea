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
