// Command cove runs an Azure Container Apps environment on one machine.
package main

func main() {}
