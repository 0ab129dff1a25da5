extension Gateway {
    /// The code execution routes (issue 4).
    func executionRoutes() -> [Route] { [] }
}
