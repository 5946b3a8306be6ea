using OrderFlow.Patterns;

PatternsApp.Build(args).Run();
