namespace DevSidecar.Tests;
