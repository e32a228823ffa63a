package io.github.openaiproxy.spring.web;

import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** A host application with routes of its own, next to which the starter mounts the proxy. */
@SpringBootConfiguration
@EnableAutoConfiguration
@RestController
class HostApplication {
    @GetMapping("/")
    String home() {
        return "home of the host";
    }

    @GetMapping("/hello")
    String hello() {
        return "hello from the host";
    }
}
