using OrderFlow.ServiceDefaults;

namespace OrderFlow.Notifications;

public static class NotificationsApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.AddSingleton<NotificationLog>();
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapNotificationsApi();
        return app;
    }
}
