variable "who" {
  type = string
}

resource "terraform_data" "greeting" {
  input = "hello, ${var.who}"
}

output "greeting" {
  value = terraform_data.greeting.output
}
