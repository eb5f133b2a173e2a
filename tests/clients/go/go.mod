module credlist.example/client

go 1.19
