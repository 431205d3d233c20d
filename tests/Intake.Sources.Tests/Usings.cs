global using Xunit;
global using Shouldly;
global using Intake.Core.Ports;
