namespace Intake.Catalog; internal static class Placeholder { }
