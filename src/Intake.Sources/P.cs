namespace Intake.Sources; internal static class Placeholder { }
