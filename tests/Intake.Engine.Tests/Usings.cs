global using Intake.Core.Errors;
global using Intake.Core.Model;
global using Intake.Engine.Configuration;
global using Intake.Engine.Runtime;
global using Intake.Engine.Tests.Support;
global using Shouldly;
global using Xunit;
