using OrderFlow.Notifications;

NotificationsApp.Build(args).Run();
