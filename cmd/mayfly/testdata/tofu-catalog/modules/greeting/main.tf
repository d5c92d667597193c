variable "who" {
  type = string
}

module "sub" {
  source = "./sub"
  who    = var.who
}

output "greeting" {
  value = module.sub.greeting
}
