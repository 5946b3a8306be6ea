using OrderFlow.Monitor;

MonitorApp.Build(args).Run();
