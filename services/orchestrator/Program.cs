using OrderFlow.Orchestrator;

OrchestratorApp.Build(args).Run();
